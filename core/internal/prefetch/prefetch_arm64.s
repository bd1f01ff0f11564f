#include "textflag.h"

// func Lines(addresses []uintptr)
TEXT ·Lines(SB), NOSPLIT, $0-24
	MOVD addresses_base+0(FP), R0
	MOVD addresses_len+8(FP), R1
	CBZ R1, done
loop:
	MOVD.P 8(R0), R2
	PRFM (R2), PLDL1KEEP
	SUB $1, R1, R1
	CBNZ R1, loop
done:
	RET

// func LinesIntoL2(addresses []uintptr)
TEXT ·LinesIntoL2(SB), NOSPLIT, $0-24
	MOVD addresses_base+0(FP), R0
	MOVD addresses_len+8(FP), R1
	CBZ R1, done
loop:
	MOVD.P 8(R0), R2
	PRFM (R2), PLDL2KEEP
	SUB $1, R1, R1
	CBNZ R1, loop
done:
	RET

// func Consecutive(address uintptr, lines int)
TEXT ·Consecutive(SB), NOSPLIT, $0-16
	MOVD address+0(FP), R0
	MOVD lines+8(FP), R1
	CMP $0, R1
	BLE done
loop:
	PRFM (R0), PLDL1KEEP
	ADD $64, R0, R0
	SUB $1, R1, R1
	CBNZ R1, loop
done:
	RET

// func LinePairs(addresses []uintptr)
TEXT ·LinePairs(SB), NOSPLIT, $0-24
	MOVD addresses_base+0(FP), R0
	MOVD addresses_len+8(FP), R1
	CBZ R1, done
loop:
	MOVD.P 8(R0), R2
	PRFM (R2), PLDL1KEEP
	PRFM 64(R2), PLDL1KEEP
	SUB $1, R1, R1
	CBNZ R1, loop
done:
	RET

// func Line(address uintptr)
TEXT ·Line(SB), NOSPLIT, $0-8
	MOVD address+0(FP), R0
	PRFM (R0), PLDL1KEEP
	RET

// func TwoLines(first, second uintptr)
TEXT ·TwoLines(SB), NOSPLIT, $0-16
	MOVD first+0(FP), R0
	MOVD second+8(FP), R1
	PRFM (R0), PLDL1KEEP
	PRFM (R1), PLDL1KEEP
	RET
