// Package activities holds certfleet's Temporal activities: the steps that touch
// the outside world (devices, CAs, Postgres). They are methods of structs that
// carry their dependencies, and every side effect they cause is idempotent by a
// business key, because Temporal runs an activity at least once.
package activities
