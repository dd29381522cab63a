module.exports = { displayName: 'reader', preset: '../../jest.preset.js', rootDir: __dirname };
