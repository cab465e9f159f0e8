import subprocess


def convert():
    source = input("Image to convert: ")
    target = source.rsplit(".", 1)[0] + ".png"
    cmd = ["convert", source, target]
    subprocess.call(cmd)
    print("wrote", target)


if __name__ == "__main__":
    convert()
