module.exports = { displayName: 'pipeline', preset: '../../jest.preset.js', rootDir: __dirname };
