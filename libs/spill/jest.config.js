module.exports = { displayName: 'spill', preset: '../../jest.preset.js', rootDir: __dirname };
