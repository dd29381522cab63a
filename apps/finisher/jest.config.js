module.exports = { displayName: 'finisher', preset: '../../jest.preset.js', rootDir: __dirname };
