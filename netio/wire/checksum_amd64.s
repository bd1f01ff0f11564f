#include "textflag.h"

// func crc32cPair(first, second []byte) uint32
//
// CRC-32C (Castagnoli) of first followed by second, with SSE4.2's CRC32 instruction:
// thirty-two bytes a step (four CRC32Q under one bound check and one pointer move), then
// eight, then four, then one at a time. The register starts at all ones and is inverted
// at the end, as hash/crc32 does. The CRC32Qs form one dependent chain either way; the
// wide step only drops the loop's own instructions (a one-transfer request's 172 covered
// bytes: 21 eight-byte steps of 6 instructions became 5 wide steps of 9 and 1 narrow).
TEXT ·crc32cPair(SB), NOSPLIT, $0-52
	MOVL $0xffffffff, AX
	MOVQ first_base+0(FP), SI
	MOVQ first_len+8(FP), CX
first32:
	CMPQ CX, $32
	JB first8
	CRC32Q (SI), AX
	CRC32Q 8(SI), AX
	CRC32Q 16(SI), AX
	CRC32Q 24(SI), AX
	ADDQ $32, SI
	SUBQ $32, CX
	JMP first32
first8:
	CMPQ CX, $8
	JB first4
	CRC32Q (SI), AX
	ADDQ $8, SI
	SUBQ $8, CX
	JMP first8
first4:
	CMPQ CX, $4
	JB first1
	CRC32L (SI), AX
	ADDQ $4, SI
	SUBQ $4, CX
first1:
	TESTQ CX, CX
	JZ second
	CRC32B (SI), AX
	INCQ SI
	DECQ CX
	JMP first1
second:
	MOVQ second_base+24(FP), SI
	MOVQ second_len+32(FP), CX
second32:
	CMPQ CX, $32
	JB second8
	CRC32Q (SI), AX
	CRC32Q 8(SI), AX
	CRC32Q 16(SI), AX
	CRC32Q 24(SI), AX
	ADDQ $32, SI
	SUBQ $32, CX
	JMP second32
second8:
	CMPQ CX, $8
	JB second4
	CRC32Q (SI), AX
	ADDQ $8, SI
	SUBQ $8, CX
	JMP second8
second4:
	CMPQ CX, $4
	JB second1
	CRC32L (SI), AX
	ADDQ $4, SI
	SUBQ $4, CX
second1:
	TESTQ CX, CX
	JZ done
	CRC32B (SI), AX
	INCQ SI
	DECQ CX
	JMP second1
done:
	NOTL AX
	MOVL AX, ret+48(FP)
	RET
