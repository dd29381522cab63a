module.exports = { displayName: 'active-job', preset: '../../jest.preset.js', rootDir: __dirname };
