module.exports = { displayName: 'sources', preset: '../../jest.preset.js', rootDir: __dirname };
