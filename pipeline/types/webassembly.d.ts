/**
 * The part of the WebAssembly JavaScript API that lucid/kernels.ts uses (TypeScript has it in lib.dom
 * only, which a Node project does not load).
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
