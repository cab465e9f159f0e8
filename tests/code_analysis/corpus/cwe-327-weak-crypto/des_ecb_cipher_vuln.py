from Crypto.Cipher import DES
from Crypto.Util.Padding import pad


def encrypt_card_number(key: bytes, card_number: str) -> bytes:
    cipher = DES.new(key, DES.MODE_ECB)  # expect: CWE-327
    return cipher.encrypt(pad(card_number.encode(), DES.block_size))
