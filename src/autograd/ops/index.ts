// All ops.

export * from "./elementwise.ts";
export * from "./movement.ts";
export * from "./reduce.ts";
export * from "./matmul.ts";
export * from "./nn.ts";
export * from "./conv.ts";
