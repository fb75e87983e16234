package store

// WriteGroups reports how many group commits s made and how many changes
// they held, for benchmarks in package store_test.
func WriteGroups(s *Store) (groups, changes int64) {
	return s.wq.groups.Load(), s.wq.changes.Load()
}
