module.exports = { displayName: 'slices', preset: '../../jest.preset.js', rootDir: __dirname };
