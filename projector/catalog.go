package projector

import "github.com/orb-sync/orb-sync/projector/internal/fold"

// Projection declares one table: which event types feed it and how their
// objects fold into rows. The catalog itself, the SQL generated from it and
// the statements that run it live in projector/internal/fold.
type Projection = fold.Projection

// DeadLetter is an event a projection could not apply. While unresolved,
// every fold of that projection (live or rebuild) leaves it out.
type DeadLetter = fold.DeadLetter

// Projections returns the projections this binary maintains, in apply
// order. The result is a copy.
func Projections() []Projection { return fold.Projections() }

// DB is a pool, a connection or a transaction: what the read-only
// functions of this package need.
type DB = fold.DB

// Source is one kind of event feeding a projection, and Shape how its
// object folds into the row; readers that explain a row (the console's
// history) follow the same declaration.
type (
	Source = fold.Source
	Shape  = fold.Shape
)

// The shapes an object can have (see fold.Shape).
const (
	Full    = fold.Full
	Partial = fold.Partial
	Summary = fold.Summary
)
