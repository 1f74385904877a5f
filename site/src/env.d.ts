/// <reference types="astro/client" />

/** Absolute output folder holding the atlases, fixed at build time by astro.config.ts. */
declare const __ATLAS_OUTPUT_DIR__: string;
/** Deploy base path (`/` or `/path/`), from SITE_BASE. */
declare const __SITE_BASE__: string;
