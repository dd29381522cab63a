module.exports = { displayName: 'example-job', preset: '../../jest.preset.js', rootDir: __dirname };
