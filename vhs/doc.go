// Package vhs holds keydesk's demo tapes (*.tape, VHS v0.10.0 syntax) and the
// test that replays each tape against the real binary, so a tape cannot drift
// from the program. Render a tape with `vhs vhs/profile.tape` from the
// repository root; check them all with
// `go run github.com/charmbracelet/vhs@v0.10.0 validate vhs/*.tape`.
package vhs
