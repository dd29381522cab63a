module.exports = { displayName: 'run-streams', preset: '../../jest.preset.js', rootDir: __dirname };
