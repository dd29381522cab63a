module.exports = { displayName: 'run-ledger', preset: '../../jest.preset.js', rootDir: __dirname };
