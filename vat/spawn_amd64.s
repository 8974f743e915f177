#include "textflag.h"

// Offsets of the fields of spawnArgs (spawn_amd64.go); the Go side checks them in a test.
#define A_CLONE    0
#define A_PATH     8
#define A_ARGV     16
#define A_ENVV     24
#define A_FPROG    32
#define A_SFLAGS   40
#define A_CTL      48
#define A_MSG      56
#define A_MSGFD    64
#define A_ZERO     72
#define A_SLEEP    80
#define A_TRIES    88
#define A_STEP     96
#define A_ERRNO    104
#define A_LISTENER 112

// func spawnProgram(a *spawnArgs) (pid int, errno uintptr)
//
// clone3(CLONE_VM|CLONE_VFORK|...) with no new stack: the child runs on this very stack while
// the caller's thread sleeps until the child has exec'd or exited. The child therefore writes to
// no stack memory (nothing here pushes, calls or returns), keeps its state in registers that
// SYSCALL preserves (R12-R15), and ends in execve or exit_group; what it has to tell the parent
// it writes into *a, which the two share. CLONE_CLEAR_SIGHAND gives the child default
// handlers: the ones it would inherit are this Go runtime's, which must never run on it.
//
// The child, in order: starts a session of its own; sets its parent-death signal; sends a pidfd
// of itself to the daemon on the control socket (a->msg, its fd written at a->msgfd), so that
// the daemon holds the process whatever becomes of its parent (had the daemon died before the
// signal was set, the send fails); loads the seccomp filter when
// a->fprog is set (storing the listener fd in log mode); unblocks every signal (the caller
// blocked them all); and execs, retrying on ETXTBSY a->tries times, a->sleep apart. On failure
// it stores the step (1 parent-death signal, 2 pidfd, 3 send, 4 seccomp, 5 exec) and the errno
// and exits with status 127.
TEXT ·spawnProgram(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ	a+0(FP), R12
	MOVQ	A_CLONE(R12), DI
	MOVQ	$64, SI // sizeof(struct clone_args), version 0
	MOVQ	$435, AX // clone3
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	parentok
	NEGQ	AX
	MOVQ	$-1, pid+8(FP)
	MOVQ	AX, errno+16(FP)
	RET
parentok:
	MOVQ	AX, pid+8(FP)
	MOVQ	$0, errno+16(FP)
	RET

child:
	MOVQ	$112, AX // setsid: a session and process group of its own, as the helper had
	SYSCALL

	MOVQ	$157, AX // prctl(PR_SET_PDEATHSIG, SIGKILL)
	MOVQ	$1, DI
	MOVQ	$9, SI
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	MOVQ	$1, R14
	CMPQ	AX, $0xfffffffffffff001
	JHI	fail

	MOVQ	$39, AX // getpid: 1, in the new pid namespace
	SYSCALL
	MOVQ	AX, DI
	XORQ	SI, SI
	MOVQ	$434, AX // pidfd_open
	SYSCALL
	MOVQ	$2, R14
	CMPQ	AX, $0xfffffffffffff001
	JHI	fail
	MOVQ	AX, R15
	MOVQ	A_MSGFD(R12), BX
	MOVL	AX, 0(BX)
	MOVQ	A_CTL(R12), DI
	MOVQ	A_MSG(R12), SI
	MOVQ	$0x4000, DX // MSG_NOSIGNAL
	MOVQ	$46, AX // sendmsg
	SYSCALL
	MOVQ	$3, R14
	CMPQ	AX, $0xfffffffffffff001
	JHI	fail
	MOVQ	R15, DI
	MOVQ	$3, AX // close
	SYSCALL

	MOVQ	A_FPROG(R12), DX
	TESTQ	DX, DX
	JEQ	unblock
	MOVQ	$1, DI // SECCOMP_SET_MODE_FILTER
	MOVQ	A_SFLAGS(R12), SI
	MOVQ	$317, AX // seccomp
	SYSCALL
	MOVQ	$4, R14
	CMPQ	AX, $0xfffffffffffff001
	JHI	fail
	MOVQ	AX, A_LISTENER(R12)

unblock:
	MOVQ	$14, AX // rt_sigprocmask(SIG_SETMASK, &empty, NULL, 8)
	MOVQ	$2, DI
	MOVQ	A_ZERO(R12), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL

	MOVQ	A_TRIES(R12), R13
	MOVQ	$5, R14
exec:
	MOVQ	A_PATH(R12), DI
	MOVQ	A_ARGV(R12), SI
	MOVQ	A_ENVV(R12), DX
	MOVQ	$59, AX // execve
	SYSCALL
	CMPQ	AX, $-26 // ETXTBSY
	JNE	fail
	DECQ	R13
	JLE	fail
	MOVQ	A_SLEEP(R12), DI
	XORQ	SI, SI
	MOVQ	$35, AX // nanosleep
	SYSCALL
	JMP	exec

fail:
	NEGQ	AX
	MOVQ	R14, A_STEP(R12)
	MOVQ	AX, A_ERRNO(R12)
exit:
	MOVQ	$127, DI
	MOVQ	$231, AX // exit_group
	SYSCALL
	JMP	exit
