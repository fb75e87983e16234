package etcd

import (
	"context"
	"errors"
	"time"

	"github.com/keydesk/keydesk/store/kv"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// readOnlyTxn sends ops (reads only) as one Txn, retrying while etcd answers
// Unavailable ("leader changed", "no leader") until c ends. The client retries
// a Range on those errors itself but never a Txn, since a Txn may write; one
// that only reads is as safe to repeat as a Range, and without this a read
// batch racing an election fails a request a plain Get would have carried.
func (e *Engine) readOnlyTxn(c context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	pause := 2 * time.Millisecond
	for {
		resp, err := e.cli.Txn(c).Then(ops...).Commit()
		if err == nil || !retryableRead(err) || c.Err() != nil {
			return resp, err
		}
		select {
		case <-c.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// retryableRead reports whether a read failed only because the member it
// asked could not serve it right now (an election, a lost leader).
func retryableRead(err error) bool {
	if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kv.ErrUnavailable) {
		return false
	}
	var server rpctypes.EtcdError // what the client makes of a server's answer
	if errors.As(err, &server) {
		return server.Code() == codes.Unavailable
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable
}
