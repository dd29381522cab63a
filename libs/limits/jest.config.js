module.exports = { displayName: 'limits', preset: '../../jest.preset.js', rootDir: __dirname };
