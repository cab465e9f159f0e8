from Crypto.Cipher import AES


def encrypt_card_number(key: bytes, card_number: str) -> bytes:
    cipher = AES.new(key, AES.MODE_GCM)
    ciphertext, tag = cipher.encrypt_and_digest(card_number.encode())
    return cipher.nonce + tag + ciphertext
