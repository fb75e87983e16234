package store

// SetFaultHook lets tests inject a failure inside a write transaction, after
// the change and its audit entry are written and before commit.
func (s *Store) SetFaultHook(fn func(op string) error) { s.faultHook = fn }
