/* Model-specific register numbers hutch initialises (Intel SDM vol. 4; AMD APM vol. 2). */
#ifndef HUTCH_VMM_X86_MSR_H
#define HUTCH_VMM_X86_MSR_H

#define MSR_IA32_SYSENTER_CS		 0x00000174
#define MSR_IA32_SYSENTER_ESP		 0x00000175
#define MSR_IA32_SYSENTER_EIP		 0x00000176
#define MSR_IA32_MISC_ENABLE		 0x000001a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MSR_MTRRdefType			 0x000002ff
#define MSR_STAR			 0xc0000081
#define MSR_LSTAR			 0xc0000082
#define MSR_CSTAR			 0xc0000083
#define MSR_SYSCALL_MASK		 0xc0000084
#define MSR_KERNEL_GS_BASE		 0xc0000102

#endif
