export * from './schema.js';
export * from './expr.js';
export * from './compile.js';
export * from './encoding.js';
export * from './tabular-dataset.js';
export * from './nsl-kdd.js';
