; The smallest boot test: an MBR that prints one line through INT 10h
; (teletype, which our BIOS sends to the serial port) and ends the VM
; through the exit device (port 0x501, status 0 -> process exit code 1).
    bits 16
    org 0x7C00

start:
    xor ax, ax
    mov ds, ax
    mov si, msg
    call puts
    xor al, al
    jmp exit

%include "bios-io.inc"

msg: db "Hello from the qemu-lite boot sector!", 13, 10, 0

    times 446 - ($ - $$) db 0
    ; One partition entry, so tools that look for a partition table find one.
    db 0x80, 0, 2, 0, 0x83, 0, 0, 0
    dd 1, 2047
    times 510 - ($ - $$) db 0
    dw 0xAA55
