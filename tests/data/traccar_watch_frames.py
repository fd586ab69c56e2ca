"""Frames of real watches, byte for byte, from Traccar's watch-protocol decoder test.

Source: github.com/traccar/traccar, src/test/java/org/traccar/protocol/WatchProtocolDecoderTest.java
(Apache License 2.0; read at commit 000e611ba7076c49bf2b48a611217d0e4983a4d9). Each constant is one
`buffer("...")` / `binary("...")` argument of that test, unchanged. Frames marked OURS are not from
Traccar: the test has no INIT frame, for instance.
"""

# verifyPosition: UD2, valid GPS fix, battery 64, status 00000008 (no alarm bit of ours)
UD2_VALID = b"[3G*9031853319*004E*UD2,220322,055105,A,22.761162,N,114.360192,E,0,0,47,14,100,64,0,0,00000008,0,0]"
# verifyPosition: AL with status 00010000, bit 16: SOS; no fix (V); battery 81
AL_SOS = (
    b"[3G*8809008845*00C0*AL,271219,094744,V,00.000000,N, 0.0000000,E,0.00,0.0,0.0,0,100,81,0,0,00010000,7,0,460,0,"
    b"9336,3981,141,9336,3912,141,9336,3982,140,9765,4233,134,9765,4071,134,9765,4321,134,9336,4353,132,0,0.0]"
)
# verifyPosition: the indexed ZJ variant, AL with status 00100000, bit 20: strap removed; valid fix
ZJ_AL_STRAP = (
    b"[ZJ*014111001332708*0075*0064*AL,040418,052156,A,22.536207,N,113.938673,E,0,0,0,5,100,82,1000,50,00100000,"
    b"1,255,460,0,9340,3663,35]"
)
# verifyPosition: AL with status 00200010, bit 21: fall (bit 4: motion); valid fix, battery 44
AL_FALL = (
    b"[3G*8308373902*0080*AL,230817,095346,A,47.083950,N,15.4821850,E,7.60,273.8,0.0,4,15,44,0,0,00200010,2,255,232,"
    b"1,7605,42530,118,7605,58036,119,0,65.8]"
)
# verifyPosition: AL with status 0001, bit 0: battery low; valid fix, battery 90
AL_LOW_BATTERY = (
    b"[SG*8800000015*0087*AL,220414,134652,A,22.571707,N,113.8613968,E,0.1,0.0,100,7,60,90,1000,50,0001,4,1,460,0,"
    b"9360,4082,131,9360,4092,148,9360,4091,143,9360,4153,141]"
)
# verifyPosition: AL with status 00000000: an alarm frame that names no alarm; no fix, battery 80
AL_NO_BITS = (
    b"[SG*9051004074*0058*AL,120117,145602,V,40.058413,N,76.336618,W,11.519,188,99,00,01,80,0,50,00000000,0,1,0,0,,10]"
)
# verifyPosition: ALCUSTOMER1 from an ID that is not a valid IMEI (its Luhn digit is wrong)
ALCUSTOMER1_BAD_IMEI = (
    b"[3G*358839237678820*0122*ALCUSTOMER1,251120,081821,V,0.0,N,0.0,E,2.58,317.462,35.147,14,100,2,11089,0,00100008,"
    b"1,1,460,01,42308,101992452,100,5,shizhou1,44:56:e2:03:ea:2a,-69,FART3,30:0d:9e:bb:fa:4d,-70,ZKY-A209,"
    b"88:c3:97:c1:f4:7f,-73,ChinaNet-HNeD,e8:84:c6:21:7c:dc,-77,,30:45:96:10:14:5d,-79,1.2035439]"
)
# verifyNull: LK without a battery (two values), and its LEN says 9 for 8 bytes of content
LK_LYING_LENGTH = b"[SG*9081000548*0009*LK,0,100]"
# verifyNull: a bare LK
LK_BARE = b"[SG*8800000015*0002*LK]"
# verifyAttributes: LK,steps,tumbles,battery: battery 100
LK_BATTERY = b"[3G*4700186508*000B*LK,0,10,100]"
# verifyPosition: UD, no fix (V), negative latitude with N as Traccar reads it; battery 34
UD2_NO_FIX = (
    b"[3G*6105117105*008D*UD2,210716,231601,V,-33.480366,N,-70.7630692,E,0.00,0.0,0.0,0,100,34,0,0,00000000,3,255,730,"
    b"2,29731,54315,167,29731,54316,162,29731,54317,145]"
)
# verifyNull: TKQ, answered with TKQ
TKQ = b"[3G*8800000015*0003*TKQ]"
# verifyPosition: indexed ZJ UD, no fix, battery 19
ZJ_UD = (
    b"[ZJ*014111001350304*0033*0064*UD,070318,020827,V,00.000000,N,000.000000,E,0,0,0,0,100,19,1000,50,00000000,1,255,"
    b"460,0,9346,5223,42]"
)
# verifyNull(binary(...)): the last of six indexed JXTK voice-message frames in the test's first
# capture (index 0039, LEN 00e5); its binary AMR payload carries the escapes }\x02 }\x03 }\x05.
JXTK_ESCAPED = bytes.fromhex(
    "5b5a4a2a3738393436383035303034323639322a303033392a303065352a4a58544b2c302c77617463685f375f3230323230353236"
    "3039333935342c362c362c8f5cf9f34fa6edceb18c0ca4ce436e7d02d329de94b63eb11a0cb894438f44cf753dbc1a83b4560cb8e4"
    "4391eff729d4155a231bf40cb59443f373b4288492cd6e38160c5a42049bfec8678ad42bce0c560cb12e39fec3d1fe24b5572ee0be"
    "0cb1ce35fe33688455aa74e3ffa40cb1d635df4b704160ae864a7d03440cb10f3267dbf4a21d540ca1051c0cb11337724f8747f554"
    "7d054e91660cb1a73692df964f3bbb0758d41a0cfe05b60c314460297eae4185f20cad673ceb6dfa05ddbe0278d5de5d"
)

# OURS: an INIT frame as these watches send it at power-on.
INIT_OURS = b"[SG*8800000015*0004*INIT]"
