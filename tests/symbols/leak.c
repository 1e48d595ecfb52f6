/* leak.c — an internal function exported by mistake (a visibility attribute outside the public
 * headers), linked into the symbols_leaky copy of the library so that symbols_rejects_leak can
 * show the exported-symbol check rejecting it. */
__attribute__((visibility("default"))) int au_symbols_leaked_(void);
__attribute__((visibility("default"))) int au_symbols_leaked_(void) { return 42; }
