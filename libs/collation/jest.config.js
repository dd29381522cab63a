module.exports = { displayName: 'collation', preset: '../../jest.preset.js', rootDir: __dirname };
