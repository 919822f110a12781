; Reset test: the first boot leaves a mark in RAM and resets the machine
; through port 0xCF9; the second boot (RAM survives a PC reset, the BIOS
; clears only the IVT, the BDA and its own data) finds the mark and exits
; through the exit device.  Under -no-reboot the reset ends the VM instead.
    bits 16
    org 0x7C00

%define MARK_ADDR 0x9000
%define MARK 0x21544553

start:
    xor ax, ax
    mov ds, ax
    cmp dword [MARK_ADDR], MARK
    je second_boot
    mov dword [MARK_ADDR], MARK
    mov si, msg_first
    call puts
    mov dx, 0xCF9
    mov al, 0x06                ; hard reset
    out dx, al
.halt:
    hlt
    jmp .halt

second_boot:
    mov dword [MARK_ADDR], 0
    mov si, msg_second
    call puts
    xor al, al
    jmp exit

%include "bios-io.inc"

msg_first:  db "first boot: resetting through port 0xCF9", 13, 10, 0
msg_second: db "second boot: the mark survived the reset", 13, 10, 0

    times 510 - ($ - $$) db 0
    dw 0xAA55
