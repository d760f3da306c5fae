package engine

// Update is the -update flag of this package's tests (rewrite golden files),
// for the external test package (engine_test) too: one test binary may
// define a flag once.
var Update = update
