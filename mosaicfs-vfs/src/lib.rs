//! The MosaicFS virtual filesystem (issue #5): the OS backend trait, the
//! readdir evaluator, tiered file access and the file cache. Empty until then.
