print("dist-train")
