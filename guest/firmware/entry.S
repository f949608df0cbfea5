/*
 * ringside test-guest firmware — entry point and interrupt stubs.
 *
 * The VMM enters _start in 64-bit supervisor mode with interrupts off and
 * rdi = the boot information (fw_abi.h). The firmware moves to its kernel
 * stack and sets up its descriptor tables and interrupt
 * controller (fw_boot, CPL 0), then drops to user mode (CPL 3, IOPL 3, so
 * port I/O stays allowed) and runs fw_main() there on its own stack.
 *
 * Why user mode: on KVM's PVM backend the guest's supervisor mode is
 * emulated instruction by instruction while user mode runs on the CPU
 * (docs/recording.md); the workload is the hot part. Interrupt and
 * exception handlers run at CPL 0 on the kernel stack (TSS.RSP0).
 */
	.set FW_SEL_UCODE, 0x33 /* fw.h */
	.set FW_SEL_UDATA, 0x2b

	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	cli
	movq	$fw_kstack_top, %rsp
	/* .bss is already zero: the loader zeroes every segment past its file
	 * bytes (ELF semantics), and clearing it here would be slow where
	 * supervisor mode is emulated */
	movq	%rdi, %r12
	call	fw_boot
	/* iretq frame: SS, RSP, RFLAGS (IOPL 3, IF 1: the local APIC's task
	 * priority gates interrupts, see irq.c), CS, RIP */
	pushq	$FW_SEL_UDATA
	pushq	$fw_ustack_top
	pushq	$0x3202
	pushq	$FW_SEL_UCODE
	pushq	$fw_user_start
	iretq
fw_user_start:
	movq	%r12, %rdi
	call	fw_main
1:	pause
	jmp	1b

/*
 * 256 interrupt stubs, 16 bytes apart (irq.c computes their addresses).
 * Each pushes a zero error code where the CPU pushes none, then the vector.
 * Exceptions with an error code: 8, 10-14, 17, 21, 29, 30.
 */
	.text
	.balign 16
	.globl fw_isr_stubs
fw_isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) | ((vec >= 10) & (vec <= 14)) | (vec == 17) | (vec == 21) | \
	    (vec == 29) | (vec == 30)
	pushq	$vec
	.else
	pushq	$0
	pushq	$vec
	.endif
	jmp	fw_isr_common
	.set vec, vec + 1
	.endr

/* Save the registers a C function may clobber, call fw_isr(vector, error,
 * frame), restore, drop vector and error code, return from the interrupt.
 * Stack on entry (64-bit mode aligns it before the CPU's pushes): the
 * CPU's 40 bytes and our 16 leave rsp = 8 mod 16; nine saves make it 0,
 * as the call needs. */
fw_isr_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	movq	72(%rsp), %rdi
	movq	80(%rsp), %rsi
	leaq	88(%rsp), %rdx
	cld
	call	fw_isr
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp
	iretq

	.section .note.GNU-stack, "", @progbits
