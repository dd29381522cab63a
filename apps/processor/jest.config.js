module.exports = { displayName: 'processor', preset: '../../jest.preset.js', rootDir: __dirname };
