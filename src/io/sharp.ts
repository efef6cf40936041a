// sharp (image decoding and encoding, a native library), imported by a versioned `npm:` specifier
// so that a program outside this repo that imports mod.ts, with no deno.json or package.json of
// its own, resolves it: a bare "sharp" resolves only through this repo's package.json, and an
// `imports` map in deno.json is not read for a consumer's imports. Inside the repo the same
// specifier resolves to node_modules/sharp (deno.json's nodeModulesDir "manual"), so the version
// here must be package.json's: test/consumer_test.ts checks that every npm: specifier is.
// Modules that need sharp only now and then import this one dynamically, so that importing them
// does not load the native library.

export { default as sharp, type Metadata, type Sharp } from "npm:sharp@0.35.5";
