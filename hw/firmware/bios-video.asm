; INT 10h on a serial console: teletype output goes to the 16550 at COM1;
; the other functions boot loaders call keep a plausible 80x25 text-mode
; state (cursor in the BDA) without a screen.

serial_init:
    mov dx, COM1 + 1
    xor al, al
    out dx, al                  ; no UART interrupts
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al                  ; DLAB
    mov dx, COM1
    mov al, 1
    out dx, al                  ; 115200 baud
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al                  ; 8N1
    mov dx, COM1 + 2
    mov al, 0x07
    out dx, al                  ; FIFOs on, cleared
    mov dx, COM1 + 4
    mov al, 0x03
    out dx, al                  ; DTR, RTS
    ret

; Sends AL to the UART once it can take it.
serial_putc:
    push dx
    push ax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret

; Prints the NUL-terminated string at CS:SI.
print_str:
    push ax
    push si
.next:
    mov al, [cs:si]
    inc si
    test al, al
    jz .done
    call tty_putc
    jmp .next
.done:
    pop si
    pop ax
    ret

; Teletype: sends AL and moves the BDA cursor like a text screen would.
tty_putc:
    push ds
    push bx
    push word 0
    pop ds
    call serial_putc
    mov bx, [0x450]             ; BL = column, BH = row
    cmp al, 13
    je .cr
    cmp al, 10
    je .lf
    cmp al, 8
    je .bs
    cmp al, 7
    je .done
    inc bl
    cmp bl, 80
    jb .store
.cr_lf:
    xor bl, bl
.lf:
    cmp bh, 24
    jae .store
    inc bh
    jmp .store
.cr:
    xor bl, bl
    jmp .store
.bs:
    test bl, bl
    jz .store
    dec bl
.store:
    mov [0x450], bx
.done:
    pop bx
    pop ds
    ret

int10_handler:
    ENTER_FRAME
    xor bx, bx
    mov ds, bx
    mov bx, [bp + F_EBX]
    cmp ah, 0x0E
    je .teletype
    cmp ah, 0x09
    je .write_repeat
    cmp ah, 0x0A
    je .write_repeat
    cmp ah, 0x02
    je .set_cursor
    cmp ah, 0x03
    je .get_cursor
    cmp ah, 0x0F
    je .get_mode
    cmp ah, 0x08
    je .read_char
    cmp ah, 0x12
    je .ega_info
    cmp ah, 0x1A
    je .display_combination
    cmp ah, 0x4F
    je .vbe
    cmp ah, 0x06
    je .scroll_up
    jmp .done                   ; 00h set mode, 01h shape, 05h page, 07h scroll down...
.teletype:
    call tty_putc
    jmp .done
.write_repeat:                  ; write CX copies of AL at the cursor (cursor stays)
    mov cx, [bp + F_ECX]
    jcxz .done
.rep:
    call serial_putc
    loop .rep
    jmp .done
; Loaders with a screen driver (SYSLINUX) end a line by moving the cursor
; to column 0 of the next row or by scrolling: a newline on the serial line.
.set_cursor:
    mov bx, [0x450]             ; BL = column, BH = row
    mov [0x450], dx
    test dl, dl
    jnz .done
    cmp dh, bh
    jbe .done
    jmp .newline
.scroll_up:
    test al, al                 ; AL = 0 clears the window
    jz .done
.newline:
    mov al, 13
    call serial_putc
    mov al, 10
    call serial_putc
    jmp .done
.get_cursor:
    mov dx, [0x450]
    mov [bp + F_EDX], dx
    mov word [bp + F_ECX], 0x0607
    jmp .done
.get_mode:
    mov byte [bp + F_AL], 3
    mov byte [bp + F_AH], 80
    mov byte [bp + F_BH], 0
    jmp .done
.read_char:
    mov word [bp + F_EAX], 0x0720
    jmp .done
.ega_info:
    cmp bl, 0x10
    jne .done
    mov word [bp + F_EBX], 0x0003      ; colour, 256 KiB
    mov word [bp + F_ECX], 0x0009
    jmp .done
.display_combination:
    test al, al
    jnz .done
    mov byte [bp + F_AL], 0x1A
    mov word [bp + F_EBX], 0x0008      ; VGA with colour display
    jmp .done
.vbe:
    mov word [bp + F_EAX], 0x0100      ; VBE not supported
.done:
    LEAVE_FRAME
