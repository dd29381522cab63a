module.exports = { displayName: 'cost', preset: '../../jest.preset.js', rootDir: __dirname };
