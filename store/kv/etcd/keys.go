package etcd

import (
	"bytes"
	"errors"
)

// Key layout under the organization's prefix P (which ends in "/"):
//
//	P d/<bucket>/<key>     the bucket's keys; value 'v'+value, or 't' for a
//	                       tombstone (a deleted key, kept for a few minutes on a
//	                       lease so that range compares see the deletion)
//	P r/<bucket>/<rev(key)> mirror of a reversed bucket: same value, keys in
//	                       descending order so newest-first pages are ascending
//	                       range reads that the server can stop early
//	P s/<bucket>           the bucket's sequence, 8 bytes big-endian
//	P n/<engine>/<nonce>   one per committed transaction (on a lease): proves
//	                       whether an ambiguous commit landed, and marks our own
//	                       commits in the watch
//	P g/<stage>/…          a staged commit's chunks, live and committed keys
//	P x/apply              the applying marker: names the stage being applied
//	                       (stage.go)
const (
	nsData   = "d/"
	nsMirror = "r/"
	nsSeq    = "s/"
	nsNonce  = "n/"
	nsStage  = "g/"
	nsApply  = "x/"

	tagValue     = 'v'
	tagTombstone = 't'
)

// revKey maps keys to keys in reverse order: a < b ⇔ revKey(a) > revKey(b).
// Each byte is inverted (0xFF-x); an inverted 0xFF (x = 0) is escaped as
// FF 00, and FF FF ends the key, so a key sorts after every key it is a
// prefix of (descending order puts "ab" before "a").
func revKey(k []byte) []byte {
	out := make([]byte, 0, len(k)+2)
	for _, x := range k {
		if y := 0xFF - x; y == 0xFF {
			out = append(out, 0xFF, 0x00)
		} else {
			out = append(out, y)
		}
	}
	return append(out, 0xFF, 0xFF)
}

var errBadMirrorKey = errors.New("malformed mirror key")

// unrevKey inverts revKey.
func unrevKey(r []byte) ([]byte, error) {
	out := make([]byte, 0, len(r))
	for i := 0; i < len(r); i++ {
		y := r[i]
		if y != 0xFF {
			out = append(out, 0xFF-y)
			continue
		}
		if i+1 >= len(r) {
			return nil, errBadMirrorKey
		}
		switch r[i+1] {
		case 0x00:
			out = append(out, 0x00)
			i++
		case 0xFF:
			if i+2 != len(r) {
				return nil, errBadMirrorKey
			}
			return out, nil
		default:
			return nil, errBadMirrorKey
		}
	}
	return nil, errBadMirrorKey
}

// prefixEnd is the smallest key greater than every key with prefix p, or nil
// when there is none (p is all 0xFF).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// succ is the smallest key greater than k.
func succ(k []byte) []byte { return append(bytes.Clone(k), 0) }

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
