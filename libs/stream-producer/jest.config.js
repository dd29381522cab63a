module.exports = { displayName: 'stream-producer', preset: '../../jest.preset.js', rootDir: __dirname };
