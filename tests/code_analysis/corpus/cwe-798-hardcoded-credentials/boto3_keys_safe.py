import boto3


def upload_report(path):
    s3 = boto3.client("s3")
    s3.upload_file(path, "reports-bucket", path.rsplit("/", 1)[-1])
