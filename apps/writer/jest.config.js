module.exports = { displayName: 'writer', preset: '../../jest.preset.js', rootDir: __dirname };
