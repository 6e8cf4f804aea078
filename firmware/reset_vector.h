/*
 * Guest code at the x86 reset vector (physical 0xffff0, real mode CS:IP
 * f000:fff0). hutch has no BIOS; a guest only gets here when it asks for a
 * reboot through the BIOS (Linux does so on hardware-reduced ACPI machines
 * without EFI, after trying EFI). The stub turns that into the ACPI reset
 * register write, so every reboot path ends in the same place.
 */
#ifndef HUTCH_FIRMWARE_RESET_VECTOR_H
#define HUTCH_FIRMWARE_RESET_VECTOR_H

#include <stdint.h>

#define RESET_VECTOR_ADDR 0xffff0ULL

/* 16-bit code; the port and value must match the FADT's RESET_REG. */
#define RESET_VECTOR_CODE(port, value)                                             \
	{                                                                          \
		0xba, (uint8_t)(port), (uint8_t)((port) >> 8), /* mov dx, port  */ \
			0xb0, (uint8_t)(value),		       /* mov al, value */ \
			0xee,				       /* out dx, al    */ \
			0xf4,				       /* 1: hlt        */ \
			0xeb, 0xfd,			       /* jmp 1b        */ \
	}

#endif
