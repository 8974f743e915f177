package factory

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/store"
)

// Principal is who is calling, as the kernel vouches for it: the peer credentials of a client's
// unix socket, or the instance a yield runs as.
type Principal struct {
	UID, GID uint32
	PID      int32
	// Instance is set when the caller is a yield; UID and GID are then its requestor's.
	Instance string
}

// String formats the principal for logs and listings.
func (p Principal) String() string {
	if p.Instance != "" {
		return fmt.Sprintf("instance %s (for uid %d)", p.Instance, p.UID)
	}
	return fmt.Sprintf("uid %d", p.UID)
}

func (p Principal) owner() store.Principal { return store.Principal{UID: p.UID, GID: p.GID} }

// owns reports whether p may act as the owner of something owned by o.
func (p Principal) owns(o store.Principal) bool { return p.Instance == "" && p.UID == o.UID }

// peerPrincipal reads the credentials of the process at the other end of a unix socket.
func peerPrincipal(c net.Conn) (Principal, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Principal{}, fmt.Errorf("%w: %T is not a unix socket", ErrPermission, c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Principal{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Principal{}, err
	}
	if cerr != nil {
		return Principal{}, fmt.Errorf("peer credentials: %w", cerr)
	}
	return Principal{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}
