#include "textflag.h"

// func Lines(addresses []uintptr)
//
// Four addresses per turn of the loop while four are left, then one per turn: the
// ledger's pipeline passes 32 or 48 at a time, and the loop's own add, count and branch
// were three of each address's five instructions (3 per address here, callgrind).
TEXT ·Lines(SB), NOSPLIT, $0-24
	MOVQ addresses_base+0(FP), SI
	MOVQ addresses_len+8(FP), CX
	CMPQ CX, $4
	JB tail
quad:
	MOVQ (SI), AX
	MOVQ 8(SI), BX
	MOVQ 16(SI), DX
	MOVQ 24(SI), DI
	PREFETCHT0 (AX)
	PREFETCHT0 (BX)
	PREFETCHT0 (DX)
	PREFETCHT0 (DI)
	ADDQ $32, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JAE quad
tail:
	TESTQ CX, CX
	JEQ done
one:
	MOVQ (SI), AX
	PREFETCHT0 (AX)
	ADDQ $8, SI
	DECQ CX
	JNZ one
done:
	RET

// func LinesIntoL2(addresses []uintptr)
//
// Lines with PREFETCHT1, four addresses per turn as Lines.
TEXT ·LinesIntoL2(SB), NOSPLIT, $0-24
	MOVQ addresses_base+0(FP), SI
	MOVQ addresses_len+8(FP), CX
	CMPQ CX, $4
	JB tail
quad:
	MOVQ (SI), AX
	MOVQ 8(SI), BX
	MOVQ 16(SI), DX
	MOVQ 24(SI), DI
	PREFETCHT1 (AX)
	PREFETCHT1 (BX)
	PREFETCHT1 (DX)
	PREFETCHT1 (DI)
	ADDQ $32, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JAE quad
tail:
	TESTQ CX, CX
	JEQ done
one:
	MOVQ (SI), AX
	PREFETCHT1 (AX)
	ADDQ $8, SI
	DECQ CX
	JNZ one
done:
	RET

// func Consecutive(address uintptr, lines int)
//
// Four lines per turn while four are left (the ledger asks for 32), then one per turn.
TEXT ·Consecutive(SB), NOSPLIT, $0-16
	MOVQ address+0(FP), SI
	MOVQ lines+8(FP), CX
	CMPQ CX, $4
	JL tail
quad:
	PREFETCHT0 (SI)
	PREFETCHT0 64(SI)
	PREFETCHT0 128(SI)
	PREFETCHT0 192(SI)
	ADDQ $256, SI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE quad
tail:
	TESTQ CX, CX
	JLE done
one:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	DECQ CX
	JNZ one
done:
	RET

// func LinePairs(addresses []uintptr)
TEXT ·LinePairs(SB), NOSPLIT, $0-24
	MOVQ addresses_base+0(FP), SI
	MOVQ addresses_len+8(FP), CX
	TESTQ CX, CX
	JEQ done
loop:
	MOVQ (SI), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	ADDQ $8, SI
	DECQ CX
	JNZ loop
done:
	RET

// func Line(address uintptr)
TEXT ·Line(SB), NOSPLIT, $0-8
	MOVQ address+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func TwoLines(first, second uintptr)
TEXT ·TwoLines(SB), NOSPLIT, $0-16
	MOVQ first+0(FP), AX
	MOVQ second+8(FP), BX
	PREFETCHT0 (AX)
	PREFETCHT0 (BX)
	RET
