// Package port holds the small interfaces the engine runs stages against
// (tables, topics, row files), the registry that maps connector kinds to
// their constructors, and the records that travel between them.
//
// Connectors implement these interfaces; the engine never imports a connector.
package port
