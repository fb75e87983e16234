package store_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keydesk/keydesk/store"
)

// TestCheckBesideWrites runs Check while writers commit, as `keydesk check`
// may beside a live server. bbolt's Tx.Check reads the freelist, which is
// only safe from a writable transaction; under -race a read-only one races
// the next writer's freelist release.
func TestCheckBesideWrites(t *testing.T) {
	o := newOrg(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, _, err := o.s.CreateToken(o.userA, store.TokenSpec{Name: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := o.s.RevokeToken(o.userA, tok.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 30 {
		problems, err := o.s.Check()
		if err != nil || len(problems) > 0 {
			t.Errorf("check: %v %v", err, problems)
			break
		}
	}
	close(stop)
	wg.Wait()
}
