; ACPI 1.0 tables: RSDP (in the F segment, where the standard scan of
; 0xE0000-0xFFFFF finds it), RSDT, FADT, FACS and a DSDT that holds only
; the \_S5 sleep package.  The FADT points at the PM1a event/control blocks
; and PM timer of hw/acpi-pm.cc (ports in bios.inc / hw/pc.h); writing
; SLP_TYP=0 (the _S5 value) | SLP_EN to PM1a_CNT powers the machine off.
; POST fills in the checksums (the image is in RAM; see acpi_init).

%macro ACPI_HEADER 3            ; signature, length, revision
    db %1
    dd %2
    db %3
    db 0                        ; checksum (acpi_init)
    db "QLITE "                 ; OEM ID
    db "QLITEBIO"               ; OEM table ID
    dd 1                        ; OEM revision
    db "QLIT"                   ; creator ID
    dd 1                        ; creator revision
%endmacro

    align 16
acpi_rsdp:
    db "RSD PTR "
    db 0                        ; checksum over the 20 bytes (acpi_init)
    db "QLITE "
    db 0                        ; revision 0: ACPI 1.0, RSDT only
    dd BIOS_LINEAR + acpi_rsdt

acpi_rsdt:
    ACPI_HEADER "RSDT", acpi_rsdt_end - acpi_rsdt, 1
    dd BIOS_LINEAR + acpi_fadt
acpi_rsdt_end:

acpi_fadt:
    ACPI_HEADER "FACP", acpi_fadt_end - acpi_fadt, 1
    dd BIOS_LINEAR + acpi_facs  ; FIRMWARE_CTRL
    dd BIOS_LINEAR + acpi_dsdt  ; DSDT
    db 1                        ; INT_MODEL (ACPI 1.0: dual PIC)
    db 0                        ; preferred PM profile: unspecified
    dw 9                        ; SCI_INT (never raised)
    dd 0                        ; SMI_CMD: none, the machine is always in ACPI mode
    db 0, 0, 0, 0               ; ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
    dd ACPI_PM1A_EVT            ; PM1a_EVT_BLK
    dd 0                        ; PM1b_EVT_BLK
    dd ACPI_PM1A_CNT            ; PM1a_CNT_BLK
    dd 0                        ; PM1b_CNT_BLK
    dd 0                        ; PM2_CNT_BLK
    dd ACPI_PM_TMR              ; PM_TMR_BLK
    dd 0, 0                     ; GPE0_BLK, GPE1_BLK
    db 4, 2, 0, 4               ; PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
    db 0, 0, 0, 0               ; GPE0_BLK_LEN, GPE1_BLK_LEN, GPE1_BASE, CST_CNT
    dw 0x0FFF, 0x0FFF           ; P_LVL2_LAT, P_LVL3_LAT: C2/C3 not supported
    dw 0, 0                     ; FLUSH_SIZE, FLUSH_STRIDE
    db 0, 0                     ; DUTY_OFFSET, DUTY_WIDTH
    db 0, 0, 0                  ; DAY_ALRM, MON_ALRM, CENTURY: no RTC alarm
    dw 0                        ; IAPC_BOOT_ARCH (reserved in 1.0)
    db 0
    dd 0x35                     ; flags: WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON absent;
                                ; 24-bit PM timer (TMR_VAL_EXT clear)
acpi_fadt_end:

acpi_dsdt:
    ACPI_HEADER "DSDT", acpi_dsdt_end - acpi_dsdt, 1
    ; Name (_S5, Package (4) { Zero, Zero, Zero, Zero })
    db 0x08, "_S5_", 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00
acpi_dsdt_end:

    align 64
acpi_facs:
    db "FACS"
    dd 64
    dd 0                        ; hardware signature
    dd 0                        ; firmware waking vector (no S3)
    dd 0                        ; global lock
    dd 0                        ; flags: no S4BIOS
    times 40 db 0

; POST: fills in the table checksums (the image lives in RAM at F0000h).
acpi_init:
    push ds
    push cs
    pop ds
    mov si, acpi_rsdp
    mov cx, 20
    mov bx, 8
    call acpi_checksum
    mov si, acpi_rsdt
    call acpi_table_checksum
    mov si, acpi_fadt
    call acpi_table_checksum
    mov si, acpi_dsdt
    call acpi_table_checksum
    pop ds
    ret

; SI: a table with the standard header (length at +4, checksum at +9).
acpi_table_checksum:
    mov cx, [si + 4]
    mov bx, 9
; SI: start, CX: length, BX: offset of the checksum byte.  Makes the bytes sum to 0.
acpi_checksum:
    mov byte [si + bx], 0
    push si
    push cx
    xor al, al
.sum:
    add al, [si]
    inc si
    loop .sum
    pop cx
    pop si
    neg al
    mov [si + bx], al
    ret
