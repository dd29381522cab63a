module.exports = { displayName: 'job', preset: '../../jest.preset.js', rootDir: __dirname };
